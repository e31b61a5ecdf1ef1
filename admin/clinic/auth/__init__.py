"""Staff console: auth."""
