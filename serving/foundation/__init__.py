"""The foundation every Inkwell package may use (stylometry/ and rag/ excepted: they import
nothing of ours): the workspace, config schemas and loading, atomic writes, safe names and
the `InkwellError` base. It imports nothing above it."""
