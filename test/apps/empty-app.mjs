// Exports nothing and starts nothing: not an app.
