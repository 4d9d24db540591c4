"""Offline reports: `shoal report NAME -o report.html` (issue 18)."""
