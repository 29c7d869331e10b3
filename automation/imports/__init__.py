"""Spreadsheet and CSV imports: reading uploaded files safely, checking and applying their rows."""
