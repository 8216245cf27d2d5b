"""Cyrus SASL for Debian's Qpid Proton, for tests/interop/proton-sasl-tls.test.ts.

Debian's libqpid-proton-core is built without Cyrus SASL (SASL.extended() is False): its own SASL
knows ANONYMOUS, PLAIN (client only) and EXTERNAL. cyrus_sasl_plugin.c implements Proton's SASL
plugin interface with libsasl2; the test compiles it and passes the library's path here.
install() must run before the Container creates any transport: every transport after it uses
Cyrus (its SCRAM-SHA-*, PLAIN, EXTERNAL, ... as configured).
"""

import ctypes


def install(library, config_dir=None, config_name=None):
    """Loads the plugin and makes it the SASL of every Proton transport from now on. The server
    reads <config_dir>/<config_name>.conf (config_name defaults to "proton-server", as in a Proton
    built with Cyrus); None keeps Cyrus's defaults."""
    lib = ctypes.CDLL(library, mode=ctypes.RTLD_GLOBAL)
    lib.quark_cyrus_install.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.quark_cyrus_install.restype = None
    lib.quark_cyrus_install(config_dir.encode() if config_dir else None, config_name.encode() if config_name else None)
    return lib
