#include <nftables/libnftables.h>
#include "log.h"
#include "nft.h"

int nft_run(const char *what, const char *script)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	int ret;

	if (!nft) {
		log_err("%s: cannot create an nftables context", what);
		return -1;
	}
	nft_ctx_buffer_error(nft);
	ret = nft_run_cmd_from_buffer(nft, script);
	if (ret)
		log_err("%s: nftables refused the rules: %s", what, nft_ctx_get_error_buffer(nft));
	nft_ctx_free(nft);
	return ret ? -1 : 0;
}

void nft_drop_table(void)
{
	if (!nft_run("nftables", MP_NFT_DROP_TABLE))
		log_info("nftables table inet %s removed", MP_NFT_TABLE);
}
