"""Language models behind one small port (:class:`processors.llm.model.Model`)."""
