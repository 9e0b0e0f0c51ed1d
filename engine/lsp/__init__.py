"""`cadenza lsp`: the language server — diagnostics, completion, definitions and formatting.

The server is a thin layer over what the CLI already does: diagnostics come from the same
`load_project` as `cadenza validate` (with the editor's unsaved buffers read instead of the
disk), formatting from the same `format_document` as `cadenza fmt`.
"""
