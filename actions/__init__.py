"""The action server (``rasa run actions``): thin actions over the project's services.

One module per skill; rasa_sdk registers every Action subclass in this package.
"""
