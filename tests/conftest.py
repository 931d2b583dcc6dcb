"""Suite-wide: no test may send traffic beyond loopback or namespaces it made.

VESSEL_OFFLINE makes vessel's registry client refuse every non-loopback host (a docker.io pull
that a test triggers, e.g. `docker run no-such-image`, fails at once instead of resolving
registry-1.docker.io); every vessel process a test starts inherits it.
"""

import os

os.environ["VESSEL_OFFLINE"] = "1"
