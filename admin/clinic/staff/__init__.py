"""Staff console: staff."""
