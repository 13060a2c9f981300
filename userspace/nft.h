/* Our nftables table, `table inet mediaproxy`: the forwarding tiers keep
 * their netfilter rules in it and nowhere else.
 */
#ifndef MP_NFT_H
#define MP_NFT_H

#define NFT_TABLE "mediaproxy"

/* Statements that leave no table behind, whether one existed or not. */
#define NFT_DROP_TABLE "table inet " NFT_TABLE "\ndelete table inet " NFT_TABLE "\n"

/* Runs an nft script as one transaction; errors are logged with `what`. */
int nft_run(const char *what, const char *script);

/* Deletes the table (at exit; harmless when it is not there). */
void nft_drop_table(void);

#endif
