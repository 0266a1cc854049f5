"""Write services of the annotate app, one module per topic."""
