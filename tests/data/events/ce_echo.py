"""For the CloudEvents SDK tests: answers with the event it got (same
attributes, same data), which the framework sends back as a CloudEvent in
the mode it was called with."""
from ofn.framework import CloudEvent


def echo(event):
    return CloudEvent(dict(event), event.data)
