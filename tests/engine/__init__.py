"""Tests of the engine: timing, rendering, SMS, runtime and stores."""
