"""The MCP server: agents search, read and propose through the Model Context Protocol."""
