"""BrokerCare: service hub, assistant, advisory, monitoring and data platform for a brokerage."""

__version__ = "0.1.0"
