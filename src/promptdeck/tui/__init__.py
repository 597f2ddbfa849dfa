"""The promptdeck terminal app (Textual). Loaded only when the app is opened."""
