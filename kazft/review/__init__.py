"""kazft review: blind human review of an adapter against another system."""
