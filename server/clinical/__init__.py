"""In-session clinical tools: private notes and the safety panel."""
