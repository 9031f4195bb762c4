"""Report templates (packaged as reportgen.templates)."""
