"""The browser chat (Gradio). Imported only by `rag ui`: importing rag never loads gradio."""
