"""The local web dashboard: `shoal dashboard` (issue 18)."""
