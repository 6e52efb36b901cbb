"""The report: results loading, numbering, figures and the HTML/PDF render."""
