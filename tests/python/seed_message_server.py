"""Stand-in for the seed's message_server.py, written from WIRE.md.

A REP socket; `register` answers the bare string SUCCESS, `get_group_list`
a JSON list of "NAME - IP:PORT". Usage: seed_message_server.py [PORT]
(0 or nothing: a free port). Prints "listening on 127.0.0.1:PORT" when ready.
"""
import sys

import zmq

context = zmq.Context()
socket = context.socket(zmq.REP)
port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
if port == 0:
    port = socket.bind_to_random_port("tcp://127.0.0.1")
else:
    socket.bind(f"tcp://127.0.0.1:{port}")
print(f"listening on 127.0.0.1:{port}", flush=True)

groups = {}
while True:
    message = socket.recv_json()
    if message["action"] == "register":
        groups[message["ip_port"]] = message["group_name"]
        socket.send_string("SUCCESS")
    elif message["action"] == "get_group_list":
        socket.send_json([f"{name} - {ip_port}" for ip_port, name in groups.items()])
