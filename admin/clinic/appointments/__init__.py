"""Staff console: appointments."""
