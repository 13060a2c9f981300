#include <nftables/libnftables.h>
#include "log.h"
#include "nft.h"

/* One context for the agent's life, made by the first nft_run at start-up.
 * libnftables waits for the kernel's answers with select(), which aborts on a
 * descriptor above FD_SETSIZE: a context made later, when thousands of
 * stream sockets are open, would get such a descriptor.
 */
static struct nft_ctx *nft;

int nft_run(const char *what, const char *script)
{
	int ret;

	if (!nft && (nft = nft_ctx_new(NFT_CTX_DEFAULT)))
		nft_ctx_buffer_error(nft);
	if (!nft) {
		log_err("%s: cannot create an nftables context", what);
		return -1;
	}
	ret = nft_run_cmd_from_buffer(nft, script);
	if (ret)
		log_err("%s: nftables refused the rules: %s", what, nft_ctx_get_error_buffer(nft));
	return ret ? -1 : 0;
}

void nft_drop_table(void)
{
	if (!nft_run("nftables", NFT_DROP_TABLE))
		log_info("nftables table inet %s removed", NFT_TABLE);
}
