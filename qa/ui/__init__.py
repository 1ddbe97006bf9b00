"""The Gradio chat UI of qa: a thin shell over `qa.QA`."""
