# torrent2s3's Deluge plugin: applies the libtorrent session settings Deluge has no preference for (peer
# transport, disk threads, socket buffers), read from t2s-libtorrent.json in the config folder, and reads
# them back. Deluge's RPC has no way to set them (Core.apply_session_settings is not exported).
# The table and the reason for each setting live in seedbox/deluge-tuning.ts.
import json
import logging

import deluge.component as component
from deluge.configmanager import get_config_dir
from deluge.core.rpcserver import export
from deluge.plugins.pluginbase import CorePluginBase

log = logging.getLogger(__name__)

SETTINGS_FILE = 't2s-libtorrent.json'


class CorePlugin(CorePluginBase):
    def enable(self):
        with open(get_config_dir(SETTINGS_FILE), encoding='utf-8') as f:
            settings = json.load(f)
        component.get('Core').apply_session_settings(settings)
        log.info('t2s: applied libtorrent settings %s', sorted(settings))

    def disable(self):
        pass

    @export
    def get_settings(self, keys):
        """The named settings as libtorrent holds them now."""
        current = component.get('Core').session.get_settings()
        return {k: current.get(k) for k in keys}
