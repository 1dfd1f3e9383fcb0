-- No query filters AI Bridge records by provider response id or tool call
-- id; these indexes only cost a B-tree insert per recorded row (and WAL
-- pages per batch). Lookups go by interception id and start time.
DROP INDEX IF EXISTS aibridge_token_usages_response_idx;
DROP INDEX IF EXISTS aibridge_user_prompts_response_idx;
DROP INDEX IF EXISTS aibridge_tool_usages_response_idx;
DROP INDEX IF EXISTS aibridge_tool_usages_call_idx;
