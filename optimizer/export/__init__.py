"""Outputs for people: decision annexes (xlsx, docx, pdf), CSV tables and the HTML report."""
