"""Avatars: a hash becomes a portrait (or a classic default), drawn once and cached forever."""
