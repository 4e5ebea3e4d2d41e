// Scores a results file of the HTTP caching test suite the way the suite's own results
// page does: a test whose dependency did not pass counts as a dependency failure.
// Usage: node cache_tests_score.mjs SUITE_DIR RESULTS_JSON [--list]
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import path from 'node:path'

const [suiteDir, resultsFile, flag] = process.argv.slice(2)
const load = rel => import(pathToFileURL(path.resolve(suiteDir, rel)).href)
const tests = (await load('tests/index.mjs')).default
const { determineTestResult, resultTypes } = await load('test-engine/lib/results.mjs')
const results = JSON.parse(readFileSync(resultsFile, 'utf8'))

const names = new Map(Object.entries(resultTypes).map(([name, type]) => [type, name]))
const counts = {}
const failures = []
for (const suite of tests) {
  for (const test of suite.tests) {
    if (test.browser_only) continue
    const kind = test.kind || 'required'
    const outcome = names.get(determineTestResult(tests, test.id, results))
    counts[kind] = counts[kind] || {}
    counts[kind][outcome] = (counts[kind][outcome] || 0) + 1
    if (!['pass', 'yes'].includes(outcome)) {
      const detail = Array.isArray(results[test.id]) ? results[test.id][1] : ''
      failures.push(`${kind}\t${outcome}\t${test.id}\t${String(detail || '').slice(0, 160)}`)
    }
  }
}
for (const [kind, outcomes] of Object.entries(counts)) {
  const total = Object.values(outcomes).reduce((a, b) => a + b, 0)
  const passed = (outcomes.pass || 0) + (outcomes.yes || 0)
  console.log(`${kind}: ${passed} of ${total} passed  ${JSON.stringify(outcomes)}`)
}
if (flag === '--list') failures.forEach(line => console.log(line))
