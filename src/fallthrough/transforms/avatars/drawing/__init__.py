"""The vector drawing behind the built-in avatars: portraits and the classic defaults."""
