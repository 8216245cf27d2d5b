#!/usr/bin/env python3
"""A Proton client with a durable topic subscription (container id + link name, durable terminus,
expiry never): receives COUNT messages, then detaches (keeping the subscription) or closes it
(ending it), as --end says. Prints each body, then 'detached' or 'closed'.

  durable_sub.py URL ADDRESS COUNT --end detach|close
"""
import sys
from proton.handlers import MessagingHandler
from proton.reactor import Container, DurableSubscription


class Sub(MessagingHandler):
    def __init__(self, url, address, count, end):
        super(Sub, self).__init__()
        self.url, self.address, self.count, self.end = url, address, count, end
        self.received = 0

    def on_start(self, event):
        conn = event.container.connect(self.url)
        self.receiver = event.container.create_receiver(conn, self.address, name="proton-durable", options=DurableSubscription())

    def on_link_opened(self, event):
        if self.count == 0:
            self.finish(event)

    def on_message(self, event):
        print(event.message.body, flush=True)
        self.received += 1
        if self.received == self.count:
            self.finish(event)

    def finish(self, event):
        if self.end == "detach":
            self.receiver.detach()
            print("detached", flush=True)
        else:
            self.receiver.close()
            print("closed", flush=True)
        event.connection.close()


url, address, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
end = sys.argv[5] if len(sys.argv) > 5 else "detach"
container = Container(Sub(url, address, count, end))
container.container_id = "proton-durable-client"  # the subscription is named by it (with the link name)
container.run()
