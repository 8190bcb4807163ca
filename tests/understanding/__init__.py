"""Tests of townhall.understanding."""
