"""Staff console: practice."""
