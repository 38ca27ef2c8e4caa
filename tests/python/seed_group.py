"""Stand-in for the seed's group.py, written from WIRE.md.

Usage: seed_group.py NAME IP:PORT DIRECTORY_HOST[:PORT] (port 0: a free one).
Registers once, then serves joinGroup, leaveGroup, sendMessage, getMessage
on a ROUTER, keeping the history in memory with local isoformat() times.
Prints "listening on IP:PORT" when ready.
"""
import datetime
import json
import sys

import zmq

name, ip_port, directory = sys.argv[1], sys.argv[2], sys.argv[3]
if ":" not in directory:
    directory += ":5555"
ip, port = ip_port.rsplit(":", 1)

context = zmq.Context()
socket = context.socket(zmq.ROUTER)
if port == "0":
    port = str(socket.bind_to_random_port(f"tcp://{ip}"))
else:
    socket.bind(f"tcp://{ip}:{port}")
ip_port = f"{ip}:{port}"

register = context.socket(zmq.REQ)
register.connect(f"tcp://{directory}")
register.send_json({"action": "register", "group_name": name, "ip_port": ip_port})
register.recv_string()
print(f"listening on {ip_port}", flush=True)

members = set()
messages = []
while True:
    identity, empty, body = socket.recv_multipart()
    request = json.loads(body)
    action = request["action"]
    user = request["user_uuid"]
    if action == "joinGroup":
        members.add(user)
        reply = {"response": "SUCCESS"}
    elif action == "leaveGroup":
        members.remove(user)
        reply = {"response": "SUCCESS"}
    elif action == "sendMessage":
        if user in members:
            messages.append({"user_uuid": user, "message": request["message"],
                             "timestamp": datetime.datetime.now().isoformat()})
            reply = {"response": "SUCCESS"}
        else:
            reply = {"response": "FAILED"}
    elif action == "getMessage":
        if user in members:
            since = request["timestamp"]
            if since is None:
                selected = messages
            else:
                since = datetime.datetime.fromisoformat(since)
                selected = [m for m in messages
                            if datetime.datetime.fromisoformat(m["timestamp"]) >= since]
            reply = {"response": "SUCCESS", "messages": selected}
        else:
            reply = {"response": "FAILED"}
    socket.send_multipart([identity, empty, json.dumps(reply).encode()])
