"""The default pricing and budgets files, shipped in the package as `llm_exporter.defaults`.

This directory is also what compose mounts at /etc/llm-exporter; edit the YAML files here.
"""
