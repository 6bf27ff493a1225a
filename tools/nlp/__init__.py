"""The NLP tools (sentiment, topic, entities, summaries, trained classifiers) and the models behind them.

`tools.nlp.tools` holds the agent tools, `tools.nlp.tasks` the batch functions they call, `tools.nlp.models`
the shared models (loaded lazily), `tools.nlp.text_classifier` the user-trained classifiers.
"""
