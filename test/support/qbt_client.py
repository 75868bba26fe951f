"""Drives torrent2s3's qBittorrent API with PyPI's qbittorrent-api, one phase per run; prints JSON.

Usage: qbt_client.py <phase> <base url> <hash> <category> [magnet]
Reads the password from T2S_QBT_PASSWORD (never from the command line).
"""
import json
import os
import sys
import time

import qbittorrentapi

phase, base, infohash, category = sys.argv[1:5]
client = qbittorrentapi.Client(host=base, username="t2s", password=os.environ["T2S_QBT_PASSWORD"],
                               REQUESTS_ARGS={"timeout": (5, 30)})
client.auth_log_in()
out = {}

if phase == "add":
    out["version"] = client.app.version
    out["webapi"] = client.app.web_api_version
    out["save_path"] = client.app.preferences["save_path"]
    try:
        client.torrents_create_category(name=category)
    except qbittorrentapi.Conflict409Error:
        pass
    out["categories"] = sorted(client.torrents_categories().keys())
    out["added"] = client.torrents_add(urls=sys.argv[5], category=category, tags=["t2s-test"])
    info = client.torrents_info(torrent_hashes=infohash)
    out["info"] = [dict(t) for t in info]
elif phase == "follow":
    # Until the sync agent has it: the client sees it complete only then.
    deadline = time.time() + 90
    seen = []
    while time.time() < deadline:
        t = next((t for t in client.torrents_info(category=category) if t.hash == infohash), None)
        if t is not None:
            seen.append(t.state)
            if t.state_enum.is_complete:
                break
        time.sleep(0.5)
    out["states"] = sorted(set(seen))
    out["info"] = dict(t) if t is not None else None
    files = {}
    root = t.content_path if t is not None else "/nonexistent"
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            files[os.path.relpath(p, root)] = os.path.getsize(p)
    out["on_disk"] = files
    out["properties"] = dict(client.torrents_properties(torrent_hash=infohash))
    out["files"] = [dict(f) for f in client.torrents_files(torrent_hash=infohash)]
elif phase == "delete":
    client.torrents_delete(delete_files=True, torrent_hashes=infohash)
    out["listed"] = [t.hash for t in client.torrents_info()]
    try:
        client.torrents_properties(torrent_hash=infohash)
        out["properties"] = "found"
    except qbittorrentapi.NotFound404Error:
        out["properties"] = "404"
print(json.dumps(out))
