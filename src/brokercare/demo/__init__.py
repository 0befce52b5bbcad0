"""The demo brokerage generator (``brokercare generate``)."""
