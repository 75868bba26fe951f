# torrent2s3's Deluge plugin: applies the libtorrent session settings Deluge has no preference for (peer
# transport, disk threads, socket buffers), read from t2s-libtorrent.json in the config folder, and reads
# them back. Deluge's RPC has no way to set them (Core.apply_session_settings is not exported).
# The table and the reason for each setting live in seedbox/deluge-tuning.ts.
# It also tells the seedbox at once when a torrent finishes (wait_finished): deluge-web's own event queue
# (web.get_events) looks for events every 100 ms, which the finish → link latency paid in full.
import collections
import json
import logging

import deluge.component as component
from deluge.configmanager import get_config_dir
from deluge.core.rpcserver import export
from deluge.plugins.pluginbase import CorePluginBase
from twisted.internet import defer, reactor

log = logging.getLogger(__name__)

SETTINGS_FILE = 't2s-libtorrent.json'
# Finishes kept for a caller that comes back late; it kicks a full pass anyway, so losing older ones is harmless.
KEPT_FINISHES = 1000


class CorePlugin(CorePluginBase):
    def enable(self):
        with open(get_config_dir(SETTINGS_FILE), encoding='utf-8') as f:
            settings = json.load(f)
        component.get('Core').apply_session_settings(settings)
        log.info('t2s: applied libtorrent settings %s', sorted(settings))
        self.seq = 0
        self.finished = collections.deque(maxlen=KEPT_FINISHES)
        self.waiters = []
        component.get('EventManager').register_event_handler('TorrentFinishedEvent', self.on_finished)

    def disable(self):
        component.get('EventManager').deregister_event_handler('TorrentFinishedEvent', self.on_finished)
        self.answer_all()

    def on_finished(self, torrent_id):
        self.seq += 1
        self.finished.append((self.seq, torrent_id))
        self.answer_all()

    def answer_all(self):
        waiters, self.waiters = self.waiters, []
        for d, after, timer in waiters:
            if timer.active():
                timer.cancel()
            d.callback(self.since(after))

    def since(self, after):
        return {'seq': self.seq, 'ids': [t for s, t in self.finished if s > after]}

    @export
    def get_settings(self, keys):
        """The named settings as libtorrent holds them now."""
        current = component.get('Core').session.get_settings()
        return {k: current.get(k) for k in keys}

    @export
    def wait_finished(self, after, timeout_s):
        """The torrents finished since `after` (a seq this returned), as soon as there is one, or none after timeout_s."""
        if after != self.seq:
            # A seq from before a restart (higher than ours) gets every finish kept.
            return self.since(after if after < self.seq else 0)
        d = defer.Deferred()
        entry = []

        def expire():
            self.waiters.remove(entry[0])
            d.callback(self.since(after))

        entry.append((d, after, reactor.callLater(min(max(float(timeout_s), 0), 60), expire)))
        self.waiters.append(entry[0])
        return d
