"""Staff console: records."""
