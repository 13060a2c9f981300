#!/bin/bash
# The end-to-end scenarios of test_e2e.sh against OpenSIPS 3.x
# (selftests/e2e/opensips.cfg): both module styles, the media timeout
# ending the call through mi_datagram's dlg_end_dlg, concurrent calls,
# hold.  OpenSIPS comes from OPENSIPS, OPENSIPS_SOURCE or PATH (e2e_lib.sh,
# find_proxy); without one every test is skipped, saying so.
SIP_PROXY=opensips exec bash "$(dirname "$0")/test_e2e.sh"
