"""The RAG proxy: an OpenAI-compatible server in front of the engine that injects lore
(`serving.proxy.app.create_app`, started by `inkwell serve`)."""
