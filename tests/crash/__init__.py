"""Crash trials: `cadenza serve` SIGKILLed under load, restarted, and counted (issue #9)."""
