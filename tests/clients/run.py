"""Real API clients as a user would run them under bedkey, everything from the
environment bedkey gives: `run.py MODE`, where MODE is one of

  openai-bedrock    OpenAI(provider=bedrock()): AWS_BEARER_TOKEN_BEDROCK, AWS_BEDROCK_BASE_URL
  openai            OpenAI(): OPENAI_API_KEY, OPENAI_BASE_URL (--for openai)
  anthropic-mantle  AnthropicBedrockMantle(): AWS_BEARER_TOKEN_BEDROCK,
                    ANTHROPIC_BEDROCK_MANTLE_BASE_URL
  anthropic         Anthropic(): ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL (--for anthropic)
  anthropic-aws     AnthropicAWS() (Claude Platform on AWS): ANTHROPIC_AWS_API_KEY,
                    ANTHROPIC_AWS_WORKSPACE_ID, ANTHROPIC_AWS_BASE_URL, AWS_REGION
  litellm           litellm's bedrock_mantle/ provider: BEDROCK_MANTLE_API_KEY,
                    BEDROCK_MANTLE_API_BASE, BEDROCK_MANTLE_REGION

Each makes a plain call and a streamed one (chat completions, or messages), and the
OpenAI modes the Responses and Models calls too. Streams are read one event at a time:
after the first, the stand-in is told to go on (POST $STANDIN/_control/go), since it
holds the rest until then, which proves the events arrive as they are sent. Prints
one JSON object.
"""

import json
import os
import ssl
import sys
import urllib.request

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch at import


def go():
    """Tell the stand-in the first event arrived (it holds the rest until then)."""
    context = ssl.create_default_context(cafile=os.environ["STANDIN_CA"])
    request = urllib.request.Request(os.environ["STANDIN"] + "/_control/go", method="POST", data=b"")
    urllib.request.urlopen(request, context=context).read()


def streamed(pieces):
    """The text pieces of a stream, releasing the stand-in after the first."""
    seen = []
    for piece in pieces:
        if piece is None:
            continue
        seen.append(piece)
        if len(seen) == 1:
            go()
    return seen


def openai_calls(client, model):
    messages = [{"role": "user", "content": "hi"}]
    chat = client.chat.completions.create(model=model, messages=messages)
    stream = client.chat.completions.create(model=model, messages=messages, stream=True)
    return {
        "chat": chat.choices[0].message.content,
        "stream": streamed(c.choices[0].delta.content for c in stream if c.choices),
        "responses": client.responses.create(model=model, input="hi").output_text,
        "models": [m.id for m in client.models.list()],
    }


def anthropic_calls(client, model):
    messages = [{"role": "user", "content": "hi"}]
    reply = client.messages.create(model=model, max_tokens=16, messages=messages)
    with client.messages.stream(model=model, max_tokens=16, messages=messages) as stream:
        pieces = streamed(stream.text_stream)
    return {"chat": reply.content[0].text, "stream": pieces}


def main(mode):
    if mode == "openai-bedrock":
        from openai import OpenAI
        from openai.providers import bedrock
        return openai_calls(OpenAI(provider=bedrock()), "openai.gpt-oss-120b")
    if mode == "openai":
        from openai import OpenAI
        return openai_calls(OpenAI(), "openai.gpt-oss-120b")
    if mode == "anthropic-mantle":
        from anthropic import AnthropicBedrockMantle
        return anthropic_calls(AnthropicBedrockMantle(), "anthropic.claude-sonnet-4-5")
    if mode == "anthropic-aws":
        from anthropic import AnthropicAWS
        return anthropic_calls(AnthropicAWS(), "claude-sonnet-4-5")
    if mode == "anthropic":
        from anthropic import Anthropic
        return anthropic_calls(Anthropic(), "anthropic.claude-sonnet-4-5")
    if mode == "litellm":
        import litellm
        messages = [{"role": "user", "content": "hi"}]
        chat = litellm.completion(model="bedrock_mantle/openai.gpt-oss-120b", messages=messages)
        claude = litellm.completion(model="bedrock_mantle/anthropic.claude-sonnet-4-5",
                                    messages=messages, max_tokens=16)
        stream = litellm.completion(model="bedrock_mantle/openai.gpt-oss-120b",
                                    messages=messages, stream=True)
        return {"chat": chat.choices[0].message.content,
                "claude": claude.choices[0].message.content,
                "stream": streamed(c.choices[0].delta.content for c in stream)}
    sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
