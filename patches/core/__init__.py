"""The plain logic the actors wrap: windows, session admission, source feeds. No threads here."""
