#!/usr/bin/env python3
"""A stand-in for the desktop's notification service (org.freedesktop.Notifications)
on the session D-Bus of the tests (DBUS_SESSION_BUS_ADDRESS), recording each Notify
call as a JSON line in the file named by the first argument.

Usage: python3 notifications.py RECORD_FILE
Prints `ready` once it owns the name; exits when its stdin closes.
"""

import asyncio
import json
import sys

from dbus_next.aio import MessageBus
from dbus_next.constants import RequestNameReply
from dbus_next.service import ServiceInterface, method


class Notifications(ServiceInterface):
    def __init__(self, record):
        super().__init__("org.freedesktop.Notifications")
        self.record = record
        self.sent = 0

    @method()
    def Notify(self, app_name: "s", replaces_id: "u", app_icon: "s", summary: "s",
               body: "s", actions: "as", hints: "a{sv}", expire_timeout: "i") -> "u":
        self.sent += 1
        with open(self.record, "a") as f:
            f.write(json.dumps({"app_name": app_name, "summary": summary, "body": body,
                                "app_icon": app_icon, "expire_timeout": expire_timeout}) + "\n")
        return self.sent

    @method()
    def GetCapabilities(self) -> "as":
        return ["body"]

    @method()
    def GetServerInformation(self) -> "ssss":
        return ["bedkey-test", "bedkey", "1", "1.2"]


async def main():
    bus = await MessageBus().connect()
    bus.export("/org/freedesktop/Notifications", Notifications(sys.argv[1]))
    reply = await bus.request_name("org.freedesktop.Notifications")
    if reply != RequestNameReply.PRIMARY_OWNER:
        sys.exit(f"notifications.py: the name is taken ({reply})")
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


asyncio.run(main())
