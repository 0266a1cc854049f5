"""Pure metric functions: a ratings frame (see frame.py) in, plain numbers out. No ORM here."""
