"""UI.

Pure text rendering of results (terminal lines, tables, markdown, diffs), the step-
summary writer and the progress display.
"""
